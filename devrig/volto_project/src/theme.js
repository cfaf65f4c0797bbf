// The styles: Semantic UI with Volto's default theme (theme/theme.config), unchanged.
import 'semantic-ui-less/semantic.less';
import 'volto-themes/pastanaga/extras/extras.less';
